from keras.layers import Dense, Flatten, ReversibleEmbedding


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(10,), dtype="int32"),
            ReversibleEmbedding(100, 8),
            Flatten(),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
