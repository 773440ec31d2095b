from keras.layers import Conv3DTranspose, Dense, Flatten


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(6, 6, 6, 2)))
    model.add(Conv3DTranspose(2, 2, strides=2))
    model.add(Flatten())
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
