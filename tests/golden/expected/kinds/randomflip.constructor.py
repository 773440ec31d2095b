from keras.layers import Dense, Flatten, RandomFlip


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(16, 16, 3)),
            RandomFlip(mode="horizontal"),
            Flatten(),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
