namespace OnnxInterp.Tests.Reference;

/// <summary>Rotary position embedding as transformers computes it (rope_scaling "llama3" and "linear" included).</summary>
public static class ReferenceRope
{
    /// <summary>
    /// inv_freq[j] = 1 / theta^(2j/hd), then adjusted as transformers' _compute_llama3_parameters ("llama3")
    /// or _compute_linear_scaling_rope_parameters ("linear") do.
    /// </summary>
    public static double[] InverseFrequencies(ReferenceConfig config)
    {
        int hd = config.HeadDim;
        var inv = new double[hd / 2];
        for (int j = 0; j < hd / 2; j++)
            inv[j] = 1.0 / Math.Pow(config.RopeTheta, (2.0 * j) / hd);

        RopeScalingSpec? s = config.RopeScaling;
        if (s is null) return inv;
        if (s.Type == "linear")
        {
            for (int j = 0; j < inv.Length; j++) inv[j] = inv[j] / s.Factor;
            return inv;
        }
        if (s.Type != "llama3") throw new NotSupportedException($"rope scaling '{s.Type}'");

        double oldContextLen = s.OriginalMaxPositionEmbeddings;
        double lowFreqWavelen = oldContextLen / s.LowFreqFactor;
        double highFreqWavelen = oldContextLen / s.HighFreqFactor;
        var result = new double[inv.Length];
        for (int j = 0; j < inv.Length; j++)
        {
            double wavelen = 2 * Math.PI / inv[j];
            // torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
            double invFreqLlama = wavelen > lowFreqWavelen ? inv[j] / s.Factor : inv[j];
            double smoothFactor = (oldContextLen / wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
            double smoothed = (1 - smoothFactor) * invFreqLlama / s.Factor + smoothFactor * invFreqLlama;
            bool isMediumFreq = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
            result[j] = isMediumFreq ? smoothed : invFreqLlama;
        }
        return result;
    }

    /// <summary>cos and sin of position * inv_freq, with emb = cat(freqs, freqs).</summary>
    public static (double[] Cos, double[] Sin) Rotation(double[] invFreq, int position)
    {
        int half = invFreq.Length, hd = 2 * half;
        var cos = new double[hd];
        var sin = new double[hd];
        for (int j = 0; j < hd; j++)
        {
            double angle = position * invFreq[j % half];
            cos[j] = Math.Cos(angle);
            sin[j] = Math.Sin(angle);
        }
        return (cos, sin);
    }

    /// <summary>q * cos + rotate_half(q) * sin for one head.</summary>
    public static double[] Apply(double[] x, (double[] Cos, double[] Sin) rotation)
    {
        int hd = x.Length, half = hd / 2;
        var (cos, sin) = rotation;
        var rotated = new double[hd]; // cat(-x2, x1)
        for (int j = 0; j < half; j++)
        {
            rotated[j] = -x[j + half];
            rotated[j + half] = x[j];
        }
        var y = new double[hd];
        for (int j = 0; j < hd; j++) y[j] = x[j] * cos[j] + rotated[j] * sin[j];
        return y;
    }
}
