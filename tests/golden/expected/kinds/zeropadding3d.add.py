from keras.layers import Dense, Flatten, ZeroPadding3D


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(6, 6, 6, 2)))
    model.add(ZeroPadding3D(padding=1))
    model.add(Flatten())
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
