from keras.layers import Dense, Flatten, GlobalAveragePooling3D


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(6, 6, 6, 2)),
            GlobalAveragePooling3D(),
            Flatten(),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
