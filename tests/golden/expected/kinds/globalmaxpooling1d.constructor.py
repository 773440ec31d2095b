from keras.layers import Dense, Flatten, GlobalMaxPooling1D


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(12, 4)),
            GlobalMaxPooling1D(),
            Flatten(),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
