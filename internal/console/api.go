package console

// apiRoutes are the JSON API's routes under /api/v1/.
func (c *console) apiRoutes() []route {
	return nil
}
