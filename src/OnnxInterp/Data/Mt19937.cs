namespace OnnxInterp.Data;

/// <summary>
/// The Mersenne Twister MT19937 (Matsumoto and Nishimura, 1998): the generator behind Python's <c>random</c> and
/// numpy's legacy <c>RandomState</c>. Only the two seedings differ; <see cref="PythonRandom"/> and
/// <see cref="NumpyRandomState"/> reproduce them so that the paper's shuffles and splits can be replayed exactly.
/// </summary>
public sealed class Mt19937
{
    const int N = 624, M = 397;
    const uint MatrixA = 0x9908b0df, Upper = 0x80000000, Lower = 0x7fffffff;

    readonly uint[] _mt = new uint[N];
    int _index = N + 1;

    /// <summary>init_genrand: the reference seeding from one 32-bit word (numpy's <c>RandomState(int)</c>).</summary>
    public static Mt19937 FromSeed(uint seed)
    {
        var g = new Mt19937();
        g.InitGenrand(seed);
        return g;
    }

    /// <summary>init_by_array: the reference seeding from a key of 32-bit words (Python's <c>random.seed(int)</c>).</summary>
    public static Mt19937 FromKey(ReadOnlySpan<uint> key)
    {
        if (key.Length == 0) throw new ArgumentException("the key must hold at least one word", nameof(key));
        var g = new Mt19937();
        g.InitGenrand(19650218u);
        var mt = g._mt;
        int i = 1, j = 0;
        for (int k = Math.Max(N, key.Length); k > 0; k--)
        {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525u)) + key[j] + (uint)j;
            i++; j++;
            if (i >= N) { mt[0] = mt[N - 1]; i = 1; }
            if (j >= key.Length) j = 0;
        }
        for (int k = N - 1; k > 0; k--)
        {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941u)) - (uint)i;
            i++;
            if (i >= N) { mt[0] = mt[N - 1]; i = 1; }
        }
        mt[0] = 0x80000000u;
        return g;
    }

    void InitGenrand(uint s)
    {
        _mt[0] = s;
        for (int i = 1; i < N; i++) _mt[i] = 1812433253u * (_mt[i - 1] ^ (_mt[i - 1] >> 30)) + (uint)i;
        _index = N;
    }

    /// <summary>The next 32-bit output (genrand_int32).</summary>
    public uint NextUInt32()
    {
        if (_index >= N) Twist();
        uint y = _mt[_index++];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680u;
        y ^= (y << 15) & 0xefc60000u;
        y ^= y >> 18;
        return y;
    }

    void Twist()
    {
        var mt = _mt;
        int k = 0;
        for (; k < N - M; k++)
        {
            uint y = (mt[k] & Upper) | (mt[k + 1] & Lower);
            mt[k] = mt[k + M] ^ (y >> 1) ^ ((y & 1) == 0 ? 0 : MatrixA);
        }
        for (; k < N - 1; k++)
        {
            uint y = (mt[k] & Upper) | (mt[k + 1] & Lower);
            mt[k] = mt[k + (M - N)] ^ (y >> 1) ^ ((y & 1) == 0 ? 0 : MatrixA);
        }
        uint last = (mt[N - 1] & Upper) | (mt[0] & Lower);
        mt[N - 1] = mt[M - 1] ^ (last >> 1) ^ ((last & 1) == 0 ? 0 : MatrixA);
        _index = 0;
    }

    /// <summary>genrand_res53: a double in [0, 1) with 53 random bits (Python's random(), numpy's random_sample()).</summary>
    public double NextDouble()
    {
        uint a = NextUInt32() >> 5, b = NextUInt32() >> 6;
        return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
    }
}

/// <summary>
/// Python's <c>random.Random</c> for the calls the paper's code makes: <c>seed(int)</c>, <c>random()</c>,
/// <c>getrandbits(k)</c>, <c>randrange(n)</c> and <c>shuffle(list)</c> (CPython 3.x, Lib/random.py and
/// Modules/_randommodule.c), bit for bit.
/// </summary>
public sealed class PythonRandom
{
    readonly Mt19937 _mt;

    /// <summary><c>random.seed(seed)</c> for an int: the key is |seed| in 32-bit words, least significant first.</summary>
    public PythonRandom(long seed)
    {
        ulong a = seed < 0 ? (ulong)(-(seed + 1)) + 1 : (ulong)seed;
        uint[] key = (a >> 32) == 0 ? [(uint)a] : [(uint)a, (uint)(a >> 32)];
        _mt = Mt19937.FromKey(key);
    }

    public double Random() => _mt.NextDouble();

    /// <summary><c>getrandbits(k)</c> for 0 ≤ k ≤ 32 (the paper's lists are far shorter than 2³²).</summary>
    public uint GetRandBits(int k)
    {
        if (k is < 0 or > 32) throw new ArgumentOutOfRangeException(nameof(k), k, "0..32 bits");
        return k == 0 ? 0 : _mt.NextUInt32() >> (32 - k);
    }

    /// <summary><c>_randbelow(n)</c> (= <c>randrange(n)</c>): rejection sampling on n.bit_length() bits.</summary>
    public int RandBelow(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, "must be positive");
        int k = 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)n);
        uint r = GetRandBits(k);
        while (r >= (uint)n) r = GetRandBits(k);
        return (int)r;
    }

    /// <summary><c>random.shuffle(x)</c>, in place: Fisher–Yates from the end, j = _randbelow(i + 1).</summary>
    public void Shuffle<T>(IList<T> x)
    {
        for (int i = x.Count - 1; i > 0; i--)
        {
            int j = RandBelow(i + 1);
            (x[i], x[j]) = (x[j], x[i]);
        }
    }
}

/// <summary>
/// numpy's legacy <c>np.random.RandomState(seed)</c> for <c>permutation(n)</c> and <c>shuffle</c> of a 1-D array (numpy/random/mtrand.pyx,
/// _shuffle_raw with the masked-rejection <c>random_interval</c>), and scikit-learn's <c>train_test_split</c>, which
/// draws one such permutation.
/// </summary>
public sealed class NumpyRandomState
{
    readonly Mt19937 _mt;

    /// <summary><c>RandomState(seed)</c> for an int seed in [0, 2³²): init_genrand(seed).</summary>
    public NumpyRandomState(uint seed) => _mt = Mt19937.FromSeed(seed);

    public double RandomSample() => _mt.NextDouble();

    /// <summary>random_interval(max): a uniform integer in [0, max], by masking 32-bit draws and rejecting.</summary>
    public int Interval(int max)
    {
        if (max < 0) throw new ArgumentOutOfRangeException(nameof(max), max, "must be non-negative");
        if (max == 0) return 0;
        uint mask = (uint)max;
        mask |= mask >> 1; mask |= mask >> 2; mask |= mask >> 4; mask |= mask >> 8; mask |= mask >> 16;
        uint value;
        while ((value = _mt.NextUInt32() & mask) > (uint)max) { }
        return (int)value;
    }

    /// <summary><c>shuffle(x)</c> of a 1-D array, in place: for i from n − 1 down to 1, j = random_interval(i).</summary>
    public void Shuffle<T>(IList<T> x)
    {
        for (int i = x.Count - 1; i > 0; i--)
        {
            int j = Interval(i);
            (x[i], x[j]) = (x[j], x[i]);
        }
    }

    /// <summary><c>permutation(n)</c>: arange(n) shuffled.</summary>
    public int[] Permutation(int n)
    {
        var p = Enumerable.Range(0, n).ToArray();
        Shuffle(p);
        return p;
    }

    /// <summary>
    /// scikit-learn's <c>train_test_split(items, test_size, random_state=seed)</c> with shuffling (ShuffleSplit):
    /// n_test = ceil(test_size · n), n_train = n − n_test, one permutation p; test = p[:n_test], train =
    /// p[n_test:n_test + n_train], each in that order.
    /// </summary>
    public static (IReadOnlyList<T> Train, IReadOnlyList<T> Test) TrainTestSplit<T>(IReadOnlyList<T> items, double testSize, uint seed)
    {
        if (testSize is <= 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(testSize), testSize, "a fraction in (0, 1)");
        int n = items.Count, nTest = (int)Math.Ceiling(testSize * n), nTrain = n - nTest;
        if (nTrain <= 0) throw new ArgumentException($"{n} items leave no training item at test_size {testSize}", nameof(items));
        var p = new NumpyRandomState(seed).Permutation(n);
        return (p.Skip(nTest).Take(nTrain).Select(i => items[i]).ToArray(), p.Take(nTest).Select(i => items[i]).ToArray());
    }
}
