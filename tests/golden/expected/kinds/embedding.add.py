from keras.layers import Dense, Embedding, Flatten


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(10,), dtype="int32"))
    model.add(Embedding(100, 8, mask_zero=False))
    model.add(Flatten())
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
