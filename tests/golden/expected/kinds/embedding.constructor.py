from keras.layers import Dense, Embedding, Flatten


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(10,), dtype="int32"),
            Embedding(100, 8, mask_zero=False),
            Flatten(),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
