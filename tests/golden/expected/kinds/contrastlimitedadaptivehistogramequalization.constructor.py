from keras.layers import ContrastLimitedAdaptiveHistogramEqualization, Dense, Flatten


def build_model():
    """Build and compile the model."""
    model = Sequential(
        [
            Input(shape=(16, 16, 3)),
            ContrastLimitedAdaptiveHistogramEqualization(tile_grid_size=(4, 4)),
            Flatten(),
            Dense(1),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
