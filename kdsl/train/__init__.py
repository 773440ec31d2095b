"""Running a compiled script on data: loading and checking data, splits, saving, predicting."""
