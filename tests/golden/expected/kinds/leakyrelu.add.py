from keras.layers import Dense, LeakyReLU


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(8,)))
    model.add(LeakyReLU(negative_slope=0.2))
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
