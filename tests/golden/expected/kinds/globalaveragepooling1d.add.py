from keras.layers import Dense, Flatten, GlobalAveragePooling1D


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(12, 4)))
    model.add(GlobalAveragePooling1D())
    model.add(Flatten())
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
