from keras.layers import Dense, Flatten, STFTSpectrogram


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(1024, 1)),
            STFTSpectrogram(frame_length=64, frame_step=32),
            Flatten(),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
