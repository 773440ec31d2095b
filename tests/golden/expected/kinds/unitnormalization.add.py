from keras.layers import Dense, UnitNormalization


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(8,)))
    model.add(UnitNormalization())
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
