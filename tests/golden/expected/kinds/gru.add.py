from keras.layers import GRU, Dense, Flatten


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(12, 4)))
    model.add(GRU(6, return_sequences=True))
    model.add(Flatten())
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
