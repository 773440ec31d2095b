from keras.layers import Dense, GaussianNoise


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(8,)),
            GaussianNoise(0.1),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
