from keras.layers import Dense, StringLookup


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(3,), dtype="string"))
    model.add(StringLookup(vocabulary=("a", "b", "c")))
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
