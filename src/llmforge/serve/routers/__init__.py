"""The routes, one module per group; each route is a few lines over a library call and names its
permission in its signature. :data:`llmforge.serve.app.ROUTERS` is the table the app includes."""
