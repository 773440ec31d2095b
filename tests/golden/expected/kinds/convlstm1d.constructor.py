from keras.layers import ConvLSTM1D, Dense, Flatten


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(5, 12, 3)),
            ConvLSTM1D(4, 3),
            Flatten(),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
