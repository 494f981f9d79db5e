// A route per screen (the server answers index.html on each of these paths: http/ui.py).
import {createBrowserRouter, Navigate} from 'react-router-dom';
import {AppLayout} from 'src/components/AppLayout';
import {CreateAccount} from 'src/routes/CreateAccount';
import {NotFound} from 'src/routes/NotFound';
import {Organization} from 'src/routes/Organization';
import {OrganizationsList} from 'src/routes/OrganizationsList';
import {RepositoriesList} from 'src/routes/RepositoriesList';
import {RepositoryDetails} from 'src/routes/RepositoryDetails';
import {SignIn} from 'src/routes/SignIn';
import {Superuser} from 'src/routes/Superuser';
import {TagDetails} from 'src/routes/TagDetails';
import {UserNamespace} from 'src/routes/UserNamespace';

export const router = createBrowserRouter([
  {path: '/signin', element: <SignIn />},
  {path: '/createaccount', element: <CreateAccount />},
  {
    element: <AppLayout />,
    children: [
      {path: '/', element: <Navigate to="/repository" replace />},
      {path: '/repository', element: <RepositoriesList />},
      {path: '/repository/:namespace/:name', element: <RepositoryDetails />},
      {path: '/repository/:namespace/:name/tag/:tag', element: <TagDetails />},
      {path: '/organization', element: <OrganizationsList />},
      {path: '/organization/:name', element: <Organization />},
      {path: '/user/:name', element: <UserNamespace />},
      {path: '/superuser', element: <Superuser />},
      {path: '*', element: <NotFound />},
    ],
  },
]);
