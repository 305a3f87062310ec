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
/// Single-precision matrix products on row-major data with leading dimensions, in the BLIS layout: B is packed in
/// KC x NC blocks of NR-wide panels, A in MC x KC blocks of MR-tall panels, and a register-blocked micro-kernel
/// computes each MR x NR tile. Row blocks of C run in parallel; each element of C is summed by one thread in a fixed
/// K order, so results do not depend on the thread count. Packing buffers are per thread and reused.
/// </summary>
public static unsafe class Sgemm
{
    const int MR = 6, KC = 256, MC = 96, NC = 1024;

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

    [ThreadStatic] static float[]? t_packA;
    [ThreadStatic] static float[]? t_packB;

    /// <summary>C[m,n] (+)= A[m,k] · B[k,n].</summary>
    public static void NN(int m, int n, int k, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, bool accumulate, SgemmKernel kernel = SgemmKernel.Auto) =>
        Run(m, n, k, a, lda, false, b, ldb, false, c, ldc, accumulate, kernel);

    /// <summary>C[m,n] (+)= Aᵀ · B with A stored [k,m].</summary>
    public static void TN(int m, int n, int k, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, bool accumulate, SgemmKernel kernel = SgemmKernel.Auto) =>
        Run(m, n, k, a, lda, true, b, ldb, false, c, ldc, accumulate, kernel);

    /// <summary>C[m,n] (+)= A · Bᵀ with B stored [n,k] (a linear layer with an [out,in] weight).</summary>
    public static void NT(int m, int n, int k, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, bool accumulate, SgemmKernel kernel = SgemmKernel.Auto) =>
        Run(m, n, k, a, lda, false, b, ldb, true, c, ldc, accumulate, kernel);

    static void Run(int m, int n, int k, ReadOnlySpan<float> a, int lda, bool transA, ReadOnlySpan<float> b, int ldb, bool transB,
        Span<float> c, int ldc, bool accumulate, SgemmKernel kernel)
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
        int nr = NrOf(kernel);
        var packB = t_packB ??= GC.AllocateUninitializedArray<float>(KC * (NC + 32), pinned: true);

        fixed (float* pa = a, pb = b, pc = c, pBp = packB)
        {
            var job = new Job
            {
                A = pa, Lda = lda, TransA = transA, C = pc, Ldc = ldc, M = m, Kernel = kernel, Nr = nr, PackedB = pBp,
            };
            for (int jc = 0; jc < n; jc += NC)
            {
                int nc = Math.Min(NC, n - jc);
                for (int p0 = 0; p0 < k; p0 += KC)
                {
                    int kc = Math.Min(KC, k - p0);
                    PackB(pb, ldb, transB, p0, kc, jc, nc, nr, pBp);
                    job.P0 = p0; job.Kc = kc; job.Jc = jc; job.Nc = nc; job.Accumulate = accumulate || p0 > 0;
                    int blocks = (m + MC - 1) / MC, panels = (nc + nr - 1) / nr;
                    // Few row blocks (the weight gradients: 32, 160 or 448 rows) also split their column panels, so
                    // both cores get even work; every tile is still summed by one thread in the same K order.
                    int splits = Math.Clamp((4 * Environment.ProcessorCount + blocks - 1) / blocks, 1, panels);
                    if (blocks * splits == 1 || (long)m * nc * kc < 1 << 16) for (int bi = 0; bi < blocks; bi++) job.Block(bi, 0, nc);
                    else
                    {
                        var j = job;  // the lambda captures a copy of the pointers, pinned until Parallel.For returns
                        Parallel.For(0, blocks * splits, t =>
                        {
                            int bi = t / splits, sp = t % splits;
                            j.Block(bi, panels * sp / splits * nr, panels * (sp + 1) / splits * nr);
                        });
                    }
                }
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

    /// <summary>Packs B[p0..p0+kc, jc..jc+nc] as NR-wide panels, each kc x NR row-major, zero-padded past nc.</summary>
    static void PackB(float* b, int ldb, bool transB, int p0, int kc, int jc, int nc, int nr, float* dst)
    {
        for (int j0 = 0; j0 < nc; j0 += nr)
        {
            int w = Math.Min(nr, nc - j0);
            float* panel = dst + (long)j0 * kc;
            if (!transB)
            {
                for (int p = 0; p < kc; p++)
                {
                    float* src = b + (long)(p0 + p) * ldb + jc + j0;
                    float* d = panel + p * nr;
                    int j = 0;
                    for (; j < w; j++) d[j] = src[j];
                    for (; j < nr; j++) d[j] = 0;
                }
            }
            else
            {
                if (w < nr) new Span<float>(panel, kc * nr).Clear();
                for (int j = 0; j < w; j++)
                {
                    float* src = b + (long)(jc + j0 + j) * ldb + p0;
                    for (int p = 0; p < kc; p++) panel[p * nr + j] = src[p];
                }
            }
        }
    }

    /// <summary>Packs A[i0..i0+mc, p0..p0+kc] as MR-tall panels, each kc x MR row-major, zero-padded past mc.</summary>
    static void PackA(float* a, int lda, bool transA, int i0, int mc, int p0, int kc, float* dst)
    {
        for (int r0 = 0; r0 < mc; r0 += MR)
        {
            int h = Math.Min(MR, mc - r0);
            float* panel = dst + (long)r0 * kc;
            if (transA)
            {
                for (int p = 0; p < kc; p++)
                {
                    float* src = a + (long)(p0 + p) * lda + i0 + r0;
                    float* d = panel + p * MR;
                    int i = 0;
                    for (; i < h; i++) d[i] = src[i];
                    for (; i < MR; i++) d[i] = 0;
                }
            }
            else
            {
                if (h < MR) new Span<float>(panel, kc * MR).Clear();
                for (int i = 0; i < h; i++)
                {
                    float* src = a + (long)(i0 + r0 + i) * lda + p0;
                    for (int p = 0; p < kc; p++) panel[p * MR + i] = src[p];
                }
            }
        }
    }

    struct Job
    {
        public float* A, C, PackedB;
        public int Lda, Ldc, M, Nr, P0, Kc, Jc, Nc;
        public bool TransA, Accumulate;
        public SgemmKernel Kernel;

        /// <summary>Row block <paramref name="bi"/>, columns [<paramref name="jFrom"/>, <paramref name="jTo"/>) of the packed panel (multiples of NR).</summary>
        public readonly void Block(int bi, int jFrom, int jTo)
        {
            int i0 = bi * MC, mc = Math.Min(MC, M - i0);
            var packA = t_packA ??= GC.AllocateUninitializedArray<float>(MC * KC, pinned: true);
            float* tile = stackalloc float[MR * 32];
            fixed (float* pA = packA)
            {
                PackA(A, Lda, TransA, i0, mc, P0, Kc, pA);
                for (int j0 = jFrom; j0 < Math.Min(jTo, Nc); j0 += Nr)
                {
                    int w = Math.Min(Nr, Nc - j0);
                    float* bp = PackedB + (long)j0 * Kc;
                    for (int r0 = 0; r0 < mc; r0 += MR)
                    {
                        int h = Math.Min(MR, mc - r0);
                        float* ap = pA + (long)r0 * Kc;
                        float* cp = C + (long)(i0 + r0) * Ldc + Jc + j0;
                        bool full = h == MR && w == Nr;
                        float* dst = full ? cp : tile;
                        int ldd = full ? Ldc : Nr;
                        bool acc = full && Accumulate;
                        switch (Kernel)
                        {
                            case SgemmKernel.Vector512: Kernel6x32(Kc, ap, bp, dst, ldd, acc); break;
                            case SgemmKernel.Vector256: Kernel6x16(Kc, ap, bp, dst, ldd, acc); break;
                            default: KernelVectorT(Kc, ap, bp, dst, ldd, acc); break;
                        }
                        if (!full)
                        {
                            for (int i = 0; i < h; i++)
                            for (int j = 0; j < w; j++)
                                cp[(long)i * Ldc + j] = Accumulate ? cp[(long)i * Ldc + j] + tile[i * Nr + j] : tile[i * Nr + j];
                        }
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Kernel6x32(int kc, float* a, float* b, float* c, int ldc, bool acc)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++, a += MR, b += 32)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var x = Vector512.Create(a[0]); c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[1]); c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[2]); c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[3]); c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[4]); c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[5]); c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
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
    static void Kernel6x16(int kc, float* a, float* b, float* c, int ldc, bool acc)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++, a += MR, b += 16)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var x = Vector256.Create(a[0]); c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[1]); c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[2]); c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[3]); c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            x = Vector256.Create(a[4]); c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
            x = Vector256.Create(a[5]); c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
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

    static void KernelVectorT(int kc, float* a, float* b, float* c, int ldc, bool acc)
    {
        int w = Vector<float>.Count, nr = 2 * w;
        Vector<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++, a += MR, b += nr)
        {
            var b0 = Unsafe.ReadUnaligned<Vector<float>>(b);
            var b1 = Unsafe.ReadUnaligned<Vector<float>>(b + w);
            var x = new Vector<float>(a[0]); c00 += x * b0; c01 += x * b1;
            x = new Vector<float>(a[1]); c10 += x * b0; c11 += x * b1;
            x = new Vector<float>(a[2]); c20 += x * b0; c21 += x * b1;
            x = new Vector<float>(a[3]); c30 += x * b0; c31 += x * b1;
            x = new Vector<float>(a[4]); c40 += x * b0; c41 += x * b1;
            x = new Vector<float>(a[5]); c50 += x * b0; c51 += x * b1;
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
