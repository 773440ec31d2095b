from keras.layers import Dense, Flatten, UpSampling3D


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(6, 6, 6, 2)))
    model.add(UpSampling3D(size=2))
    model.add(Flatten())
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
