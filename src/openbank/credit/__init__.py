"""Credit: scorecards (WOE binning + logistic regression with points) and their monitoring."""
