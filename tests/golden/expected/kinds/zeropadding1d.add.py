from keras.layers import Dense, Flatten, ZeroPadding1D


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(12, 4)))
    model.add(ZeroPadding1D(padding=2))
    model.add(Flatten())
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
