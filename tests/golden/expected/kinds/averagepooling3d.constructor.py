from keras.layers import AveragePooling3D, Dense, Flatten


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(6, 6, 6, 2)),
            AveragePooling3D(2, padding="same"),
            Flatten(),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
