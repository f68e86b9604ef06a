"""asyncio services over Redis and MongoDB. They may import the domain, never Qt."""
