from keras.layers import Dense, Flatten, MelSpectrogram


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(4096,)),
            MelSpectrogram(fft_length=512, sequence_stride=256, num_mel_bins=32),
            Flatten(),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
