from keras.layers import ContrastLimitedAdaptiveHistogramEqualization, Dense, Flatten


def build_model():
    """Build and compile the model."""
    model = Sequential()
    model.add(Input(shape=(16, 16, 3)))
    model.add(ContrastLimitedAdaptiveHistogramEqualization(tile_grid_size=(4, 4)))
    model.add(Flatten())
    model.add(Dense(1))
    model.compile(
        optimizer="adam",
        loss="mse",
    )
    return model
