from keras.layers import ConvLSTM3D, Dense, Flatten


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(3, 6, 6, 6, 1)),
            ConvLSTM3D(2, 3),
            Flatten(),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
