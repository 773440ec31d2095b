from keras.layers import Dense, Flatten, RandomContrast


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(16, 16, 3)))
    model.add(RandomContrast(0.2))
    model.add(Flatten())
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
