using OnnxInterp.Checkpoints;

namespace OnnxInterp.Export;

/// <summary>Rotary inverse frequencies, with the rope_scaling variants transformers implements for these families.</summary>
public static class RotaryFrequencies
{
    /// <summary>inv_freq[j] = θ^(−2j/d) for j &lt; d/2, then scaled (transformers' _compute_llama3_parameters, linear).</summary>
    public static double[] InverseFrequencies(ModelConfig c)
    {
        int half = c.HeadDim / 2;
        var inv = new double[half];
        for (int j = 0; j < half; j++) inv[j] = 1.0 / Math.Pow(c.RopeTheta, 2.0 * j / c.HeadDim);
        switch (c.RopeScaling)
        {
            case null:
                break;
            case { Type: "linear" } s:
                for (int j = 0; j < half; j++) inv[j] /= s.Factor;
                break;
            case { Type: "llama3" } s:
                {
                    double lowWavelen = s.OriginalMaxPositionEmbeddings / s.LowFreqFactor;
                    double highWavelen = s.OriginalMaxPositionEmbeddings / s.HighFreqFactor;
                    for (int j = 0; j < half; j++)
                    {
                        double wavelen = 2 * Math.PI / inv[j];
                        double scaled = wavelen > lowWavelen ? inv[j] / s.Factor : inv[j];
                        bool medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
                        if (medium)
                        {
                            double smooth = (s.OriginalMaxPositionEmbeddings / wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
                            scaled = (1 - smooth) * scaled / s.Factor + smooth * scaled;
                        }
                        inv[j] = scaled;
                    }
                    break;
                }
            default:
                throw new UnsupportedModelException("rope_scaling type not implemented", null, "rope_scaling.rope_type", c.RopeScaling.Type);
        }
        return inv;
    }
}
