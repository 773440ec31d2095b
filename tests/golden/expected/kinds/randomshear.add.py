from keras.layers import Dense, Flatten, RandomShear


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(16, 16, 3)))
    model.add(RandomShear(x_factor=0.1))
    model.add(Flatten())
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
