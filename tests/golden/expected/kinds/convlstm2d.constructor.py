from keras.layers import ConvLSTM2D, Dense, Flatten


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(5, 8, 8, 3)),
            ConvLSTM2D(4, 3, return_sequences=True),
            Flatten(),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
