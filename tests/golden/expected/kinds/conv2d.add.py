from keras.layers import Conv2D, Dense, Flatten


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(16, 16, 3)))
    model.add(Conv2D(8, (3, 3), activation="relu"))
    model.add(Flatten())
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
