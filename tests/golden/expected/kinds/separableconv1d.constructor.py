from keras.layers import Dense, Flatten, SeparableConv1D


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(12, 4)),
            SeparableConv1D(8, 3, activation="relu"),
            Flatten(),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
