from keras.layers import Dense, DepthwiseConv2D, Flatten


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(16, 16, 3)))
    model.add(DepthwiseConv2D(3, activation="relu"))
    model.add(Flatten())
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
