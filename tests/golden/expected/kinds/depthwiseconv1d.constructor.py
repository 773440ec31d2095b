from keras.layers import Dense, DepthwiseConv1D, Flatten


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(12, 4)),
            DepthwiseConv1D(3, depth_multiplier=2),
            Flatten(),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
