from keras.layers import Dense, GaussianDropout


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(8,)))
    model.add(GaussianDropout(0.2))
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
