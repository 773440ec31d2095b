from keras.layers import Dense, DepthwiseConv1D, Flatten


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(12, 4)))
    model.add(DepthwiseConv1D(3, depth_multiplier=2))
    model.add(Flatten())
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
