from keras.layers import Dense, EinsumDense


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(8,)),
            EinsumDense("ab,bc->ac", 4, activation="relu", bias_axes="c"),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
