using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace OnnxInterp.Trainer.Kernels;

/// <summary>Which register-blocked micro-kernel <see cref="Sgemm"/> uses.</summary>
public enum SgemmKernel
{
    /// <summary>The widest the hardware accelerates: Vector512, else Vector256, else Vector&lt;float&gt;.</summary>
    Auto,
    /// <summary>6x32 tile, 12 Vector512 FMA accumulators.</summary>
    Vector512,
    /// <summary>6x16 tile, 12 Vector256 FMA accumulators.</summary>
    Vector256,
    /// <summary>6x(2 Vector&lt;float&gt;.Count) tile, multiply-add without FMA fusion guarantees.</summary>
    VectorT,
}

/// <summary>
/// Single-precision matrix products on row-major data with leading dimensions. B is packed once per product into
/// KC-deep, NR-wide panels (in parallel); A is read in place, transposed or not, by a register-blocked micro-kernel
/// that computes each MR x NR tile of C from one packed B panel (held in L1 while the tiles of a task stream past it).
/// C is cut into a grid of tasks (row tiles x column panels) run in parallel; each element of C is summed by one
/// task in a fixed K order (KC chunks in ascending order), so results do not depend on the thread count or the grid.
/// Packing buffers are per thread and reused.
/// </summary>
public static unsafe class Sgemm
{
    const int MR = 6, KC = 256;

    /// <summary>Below this many multiply-adds a product runs on the calling thread: a parallel launch costs more.</summary>
    const long ParallelWork = 1 << 16;

    static readonly SgemmKernel Best =
        Vector512.IsHardwareAccelerated ? SgemmKernel.Vector512
        : Vector256.IsHardwareAccelerated ? SgemmKernel.Vector256
        : SgemmKernel.VectorT;

    /// <summary>The kernel <see cref="SgemmKernel.Auto"/> resolves to on this machine.</summary>
    public static SgemmKernel AutoKernel => Best;

    /// <summary>Whether <paramref name="kernel"/> runs accelerated here (the others still run, emulated).</summary>
    public static bool IsSupported(SgemmKernel kernel) => kernel switch
    {
        SgemmKernel.Vector512 => Vector512.IsHardwareAccelerated,
        SgemmKernel.Vector256 => Vector256.IsHardwareAccelerated,
        _ => true,
    };

    [ThreadStatic] static float[]? t_packB;

    /// <summary>C[m,n] (+)= A[m,k] · B[k,n]. <paramref name="parallel"/> false keeps the work on the calling thread (for callers that already run in parallel).</summary>
    public static void NN(int m, int n, int k, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, bool accumulate,
        SgemmKernel kernel = SgemmKernel.Auto, bool parallel = true) =>
        Run(m, n, k, a, lda, false, b, ldb, false, c, ldc, accumulate, kernel, parallel);

    /// <summary>C[m,n] (+)= Aᵀ · B with A stored [k,m].</summary>
    public static void TN(int m, int n, int k, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, bool accumulate,
        SgemmKernel kernel = SgemmKernel.Auto, bool parallel = true) =>
        Run(m, n, k, a, lda, true, b, ldb, false, c, ldc, accumulate, kernel, parallel);

    /// <summary>C[m,n] (+)= A · Bᵀ with B stored [n,k] (a linear layer with an [out,in] weight).</summary>
    public static void NT(int m, int n, int k, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, bool accumulate,
        SgemmKernel kernel = SgemmKernel.Auto, bool parallel = true) =>
        Run(m, n, k, a, lda, false, b, ldb, true, c, ldc, accumulate, kernel, parallel);

    static void Run(int m, int n, int k, ReadOnlySpan<float> a, int lda, bool transA, ReadOnlySpan<float> b, int ldb, bool transB,
        Span<float> c, int ldc, bool accumulate, SgemmKernel kernel, bool parallel)
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentOutOfRangeException(nameof(m), $"dimensions must be non-negative, got {m}x{n}x{k}");
        if (m == 0 || n == 0) return;
        CheckExtent(a, transA ? k : m, transA ? m : k, lda, nameof(a));
        CheckExtent(b, transB ? n : k, transB ? k : n, ldb, nameof(b));
        CheckExtent(c, m, n, ldc, nameof(c));
        if (k == 0)
        {
            if (!accumulate) for (int i = 0; i < m; i++) c.Slice(i * ldc, n).Clear();
            return;
        }
        if (kernel == SgemmKernel.Auto) kernel = Best;
        int nr = NrOf(kernel), panels = (n + nr - 1) / nr, chunks = (k + KC - 1) / KC, rowTiles = (m + MR - 1) / MR;
        long packed = (long)k * panels * nr;
        if (packed > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(k), $"a {k}x{n} B operand is too large to pack");
        if (t_packB is null || t_packB.Length < packed) t_packB = GC.AllocateUninitializedArray<float>((int)packed, pinned: true);
        int cores = Environment.ProcessorCount;
        bool par = parallel && cores > 1 && (long)m * n * k >= ParallelWork;
        // Tasks: R row ranges x S panel ranges, about four per core; more row ranges than panel ranges, since a panel
        // range shares its packed B panels (L1) among its row tiles while every row range reads its own rows of A.
        int target = par ? 4 * cores : 1;
        int rows = Math.Min(rowTiles, target), cols = Math.Clamp((target + rows - 1) / rows, 1, panels);

        fixed (float* pa = a, pb = b, pc = c, pBp = t_packB)
        {
            var job = new Job
            {
                A = pa, Lda = lda, TransA = transA, B = pb, Ldb = ldb, TransB = transB, C = pc, Ldc = ldc, M = m, N = n, K = k,
                Kernel = kernel, Nr = nr, Panels = panels, PackedB = pBp, Accumulate = accumulate, RowTiles = rowTiles, Rows = rows, Cols = cols,
            };
            if (!par)
            {
                for (int t = 0; t < chunks * panels; t++) job.PackPanel(t / panels, t % panels);
                job.Task(0);
            }
            else
            {
                var j = job;  // the lambdas capture a copy of the pointers, pinned until Parallel.For returns
                Parallel.For(0, chunks * panels, t => j.PackPanel(t / panels, t % panels));
                Parallel.For(0, rows * cols, t => j.Task(t));
            }
        }
    }

    static void CheckExtent(ReadOnlySpan<float> s, int rows, int cols, int ld, string name)
    {
        if (cols > ld && rows > 1) throw new ArgumentException($"leading dimension {ld} is less than the row length {cols}", name);
        long need = rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * ld + cols;
        if (s.Length < need) throw new ArgumentException($"span of {s.Length} floats is too short for {rows}x{cols} with leading dimension {ld}", name);
    }

    static int NrOf(SgemmKernel kernel) => kernel switch
    {
        SgemmKernel.Vector512 => 32,
        SgemmKernel.Vector256 => 16,
        _ => 2 * Vector<float>.Count,
    };

    struct Job
    {
        public float* A, B, C, PackedB;
        public int Lda, Ldb, Ldc, M, N, K, Nr, Panels, RowTiles, Rows, Cols;
        public bool TransA, TransB, Accumulate;
        public SgemmKernel Kernel;

        /// <summary>Where chunk <paramref name="chunk"/>'s panel <paramref name="panel"/> lies in the packed B: chunk-major, then panel, each kc x NR.</summary>
        readonly float* Panel(int chunk, int panel) => PackedB + (long)chunk * KC * Panels * Nr + (long)panel * Nr * Math.Min(KC, K - chunk * KC);

        /// <summary>Packs B[p0..p0+kc, j0..j0+NR) as a kc x NR row-major panel, zero-padded past n.</summary>
        public readonly void PackPanel(int chunk, int panel)
        {
            int p0 = chunk * KC, kc = Math.Min(KC, K - p0), j0 = panel * Nr, w = Math.Min(Nr, N - j0), nr = Nr;
            float* dst = Panel(chunk, panel);
            if (!TransB)
            {
                for (int p = 0; p < kc; p++)
                {
                    float* d = dst + p * nr;
                    new ReadOnlySpan<float>(B + (long)(p0 + p) * Ldb + j0, w).CopyTo(new Span<float>(d, w));
                    if (w < nr) new Span<float>(d + w, nr - w).Clear();
                }
            }
            else
            {
                if (w < nr) new Span<float>(dst, kc * nr).Clear();
                for (int j = 0; j < w; j++)
                {
                    float* src = B + (long)(j0 + j) * Ldb + p0;
                    for (int p = 0; p < kc; p++) dst[p * nr + j] = src[p];
                }
            }
        }

        /// <summary>Task <paramref name="t"/> of the Rows x Cols grid: its row tiles x its panels, every K chunk in order.</summary>
        public readonly void Task(int t)
        {
            int ri = t / Cols, ci = t % Cols;
            int tile0 = (int)((long)RowTiles * ri / Rows), tile1 = (int)((long)RowTiles * (ri + 1) / Rows);
            int panel0 = (int)((long)Panels * ci / Cols), panel1 = (int)((long)Panels * (ci + 1) / Cols);
            float* tile = stackalloc float[MR * 32];
            // A element (i, p) lies at A + i·rs + p·cs: in place, no packing (the kernel broadcasts each element).
            nint rs = TransA ? 1 : Lda, cs = TransA ? Lda : 1;
            for (int chunk = 0, p0 = 0; p0 < K; chunk++, p0 += KC)
            {
                int kc = Math.Min(KC, K - p0);
                bool acc = Accumulate || p0 > 0;
                for (int panel = panel0; panel < panel1; panel++)
                {
                    int j0 = panel * Nr, w = Math.Min(Nr, N - j0);
                    float* bp = Panel(chunk, panel);
                    for (int rt = tile0; rt < tile1; rt++)
                    {
                        int i0 = rt * MR, h = Math.Min(MR, M - i0);
                        float* ap = A + i0 * rs + p0 * cs;
                        float* cp = C + (long)i0 * Ldc + j0;
                        bool full = h == MR && w == Nr;
                        float* dst = full ? cp : tile;
                        int ldd = full ? Ldc : Nr;
                        switch (Kernel)
                        {
                            case SgemmKernel.Vector512: Kernel6x32(kc, ap, rs, cs, h, bp, dst, ldd, full && acc); break;
                            case SgemmKernel.Vector256: Kernel6x16(kc, ap, rs, cs, h, bp, dst, ldd, full && acc); break;
                            default: KernelVectorT(kc, ap, rs, cs, h, bp, dst, ldd, full && acc); break;
                        }
                        if (!full)
                        {
                            for (int i = 0; i < h; i++)
                            for (int j = 0; j < w; j++)
                                cp[(long)i * Ldc + j] = acc ? cp[(long)i * Ldc + j] + tile[i * Nr + j] : tile[i * Nr + j];
                        }
                    }
                }
            }
        }
    }

    /// <summary>Offsets of the tile's 6 rows of A; rows past <paramref name="h"/> repeat the last real row (read, never stored).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void RowOffsets(nint rs, int h, out nint o1, out nint o2, out nint o3, out nint o4, out nint o5)
    {
        o1 = Math.Min(1, h - 1) * rs; o2 = Math.Min(2, h - 1) * rs; o3 = Math.Min(3, h - 1) * rs;
        o4 = Math.Min(4, h - 1) * rs; o5 = Math.Min(5, h - 1) * rs;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Kernel6x32(int kc, float* a, nint rs, nint cs, int h, float* b, float* c, int ldc, bool acc)
    {
        RowOffsets(rs, h, out var o1, out var o2, out var o3, out var o4, out var o5);
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++, a += cs, b += 32)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var x = Vector512.Create(a[0]); c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[o1]); c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[o2]); c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[o3]); c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[o4]); c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[o5]); c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
        }
        Store(c, c00, c01, acc); c += ldc;
        Store(c, c10, c11, acc); c += ldc;
        Store(c, c20, c21, acc); c += ldc;
        Store(c, c30, c31, acc); c += ldc;
        Store(c, c40, c41, acc); c += ldc;
        Store(c, c50, c51, acc);

        static void Store(float* row, Vector512<float> v0, Vector512<float> v1, bool acc)
        {
            if (acc) { v0 += Vector512.Load(row); v1 += Vector512.Load(row + 16); }
            v0.Store(row); v1.Store(row + 16);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Kernel6x16(int kc, float* a, nint rs, nint cs, int h, float* b, float* c, int ldc, bool acc)
    {
        RowOffsets(rs, h, out var o1, out var o2, out var o3, out var o4, out var o5);
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++, a += cs, b += 16)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var x = Vector256.Create(a[0]); c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[o1]); c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[o2]); c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[o3]); c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            x = Vector256.Create(a[o4]); c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
            x = Vector256.Create(a[o5]); c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
        }
        Store(c, c00, c01, acc); c += ldc;
        Store(c, c10, c11, acc); c += ldc;
        Store(c, c20, c21, acc); c += ldc;
        Store(c, c30, c31, acc); c += ldc;
        Store(c, c40, c41, acc); c += ldc;
        Store(c, c50, c51, acc);

        static void Store(float* row, Vector256<float> v0, Vector256<float> v1, bool acc)
        {
            if (acc) { v0 += Vector256.Load(row); v1 += Vector256.Load(row + 8); }
            v0.Store(row); v1.Store(row + 8);
        }
    }

    static void KernelVectorT(int kc, float* a, nint rs, nint cs, int h, float* b, float* c, int ldc, bool acc)
    {
        RowOffsets(rs, h, out var o1, out var o2, out var o3, out var o4, out var o5);
        int w = Vector<float>.Count, nr = 2 * w;
        Vector<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++, a += cs, b += nr)
        {
            var b0 = Unsafe.ReadUnaligned<Vector<float>>(b);
            var b1 = Unsafe.ReadUnaligned<Vector<float>>(b + w);
            var x = new Vector<float>(a[0]); c00 += x * b0; c01 += x * b1;
            x = new Vector<float>(a[o1]); c10 += x * b0; c11 += x * b1;
            x = new Vector<float>(a[o2]); c20 += x * b0; c21 += x * b1;
            x = new Vector<float>(a[o3]); c30 += x * b0; c31 += x * b1;
            x = new Vector<float>(a[o4]); c40 += x * b0; c41 += x * b1;
            x = new Vector<float>(a[o5]); c50 += x * b0; c51 += x * b1;
        }
        Store(c, c00, c01, acc, w); c += ldc;
        Store(c, c10, c11, acc, w); c += ldc;
        Store(c, c20, c21, acc, w); c += ldc;
        Store(c, c30, c31, acc, w); c += ldc;
        Store(c, c40, c41, acc, w); c += ldc;
        Store(c, c50, c51, acc, w);

        static void Store(float* row, Vector<float> v0, Vector<float> v1, bool acc, int w)
        {
            if (acc) { v0 += Unsafe.ReadUnaligned<Vector<float>>(row); v1 += Unsafe.ReadUnaligned<Vector<float>>(row + w); }
            Unsafe.WriteUnaligned(row, v0);
            Unsafe.WriteUnaligned(row + w, v1);
        }
    }
}
