package console

// Sample records one sample at the console's clock, as Run does on each
// tick, so a test can book traffic to the minutes of its own clock.
func (c *Console) Sample() { c.record(c.gather()) }
