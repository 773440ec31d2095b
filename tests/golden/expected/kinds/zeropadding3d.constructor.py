from keras.layers import Dense, Flatten, ZeroPadding3D


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(6, 6, 6, 2)),
            ZeroPadding3D(padding=1),
            Flatten(),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
