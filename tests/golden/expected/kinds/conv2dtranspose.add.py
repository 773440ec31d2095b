from keras.layers import Conv2DTranspose, Dense, Flatten


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(16, 16, 3)))
    model.add(Conv2DTranspose(4, 3, strides=2, padding="same"))
    model.add(Flatten())
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
