from keras.layers import Dense, SpectralNormalization


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(8,)),
            SpectralNormalization(Dense(4)),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
