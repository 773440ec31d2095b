from keras.layers import Dense, Flatten, SeparableConv2D


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(16, 16, 3)),
            SeparableConv2D(8, 3, activation="relu"),
            Flatten(),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
