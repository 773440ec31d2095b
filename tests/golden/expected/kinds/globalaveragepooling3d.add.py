from keras.layers import Dense, Flatten, GlobalAveragePooling3D


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(6, 6, 6, 2)))
    model.add(GlobalAveragePooling3D())
    model.add(Flatten())
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
