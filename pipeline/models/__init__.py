"""The models side: neuron read-outs f, encoders E and generators G."""
