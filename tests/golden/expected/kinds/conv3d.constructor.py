from keras.layers import Conv3D, Dense, Flatten


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(6, 6, 6, 2)),
            Conv3D(4, 3, activation="relu"),
            Flatten(),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
