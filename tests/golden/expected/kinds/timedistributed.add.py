from keras.layers import Dense, Flatten, TimeDistributed


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(12, 4)))
    model.add(TimeDistributed(Dense(3)))
    model.add(Flatten())
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
